# The latest write of a record, found in the audit log by an index of writes alone (issue 17;
# patients/integrity.py audited_version, read at every chart open): without it the lookup read
# every event of the patient, reads included, and grew with each one. The condition is the
# query's own, word for word: both engines use a partial index only for a query that says it.

from django.db import migrations

_CREATE = (
    "CREATE INDEX audit_record_writes ON audit_auditevent (patient_ref, seq) "
    "WHERE outcome = 'success' AND detail LIKE '%\"record_version\":%'"
)


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0005_archive'),
        ('audit', '0004_archive_actions'),
    ]

    operations = [
        migrations.RunSQL(_CREATE, reverse_sql="DROP INDEX audit_record_writes"),
    ]
