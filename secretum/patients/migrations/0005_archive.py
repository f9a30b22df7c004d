# The archive (J1; patients/archive.py): when a record moved to it; the record seal covers it
# only once archived, so the seals of active records stay as they were.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0004_search_token_generation'),
    ]

    operations = [
        migrations.AddField(
            model_name='patient',
            name='archived_at',
            field=models.DateTimeField(db_index=True, null=True),
        ),
    ]
