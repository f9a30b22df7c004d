# An archived record opened with a reason is a grant of category "archive" (J1; access/care.py).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0001_care_relationships'),
    ]

    operations = [
        migrations.AlterField(
            model_name='glassbreak',
            name='category',
            field=models.CharField(choices=[('emergency', 'Emergency'), ('replacement', 'Replacement'), ('other', 'Other'), ('archive', 'Archive')], max_length=16),
        ),
    ]
