# The breach register is its own app (secretum.breaches): its models leave the compliance app's
# state only. Their tables stay, with their rows, owned by breaches 0001 (Meta.db_table).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0001_initial'),
        ('breaches', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='BreachUpdate',
                ),
                migrations.DeleteModel(
                    name='Breach',
                ),
            ],
            database_operations=[],
        ),
    ]
