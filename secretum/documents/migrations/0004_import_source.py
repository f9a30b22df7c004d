# A document may come from a message imported from another package, kept as received
# (exchange/kmehr, issue 14): one more source; no column changes.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("documents", "0003_row_seals")]

    operations = [
        migrations.AlterField(
            model_name="document",
            name="source",
            field=models.CharField(
                choices=[
                    ("upload", "uploaded"),
                    ("intake", "scan intake folder"),
                    ("import", "imported message"),
                ],
                default="upload",
                max_length=8,
            ),
        ),
    ]
