# The patients holding a search token, read from the index alone (issue 17): the index of
# (kind, token) made SQLite and PostgreSQL look up every holder's row in the table for its
# patient, thousands for a name prefix at 100,000 patients. Built once at the upgrade (about 12 s
# for 6,400,000 tokens on SQLite, bench/README.md); it replaces the narrower index, which any
# lookup by kind and token can use no more than this one.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("patients", "0006_record_writes_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="searchtoken",
            index=models.Index(
                fields=["kind", "token", "patient"], name="patients_search_holders"
            ),
        ),
        migrations.RemoveIndex(
            model_name="searchtoken",
            name="patients_search_kind_token",
        ),
    ]
