# The record as a whole, authenticated under the key file (E10, G3, O2; patients/integrity.py).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='patient',
            name='entries_digest',
            field=models.BinaryField(null=True),
        ),
        migrations.AddField(
            model_name='patient',
            name='record_seal',
            field=models.BinaryField(null=True),
        ),
        migrations.AddField(
            model_name='patient',
            name='record_version',
            field=models.PositiveBigIntegerField(default=0),
        ),
    ]
