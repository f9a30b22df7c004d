"""Each search token names the index generation it was made under (crypto/indexkeys.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_pad_search_tokens")]

    operations = [
        migrations.AddField(
            model_name="searchtoken",
            name="generation",
            field=models.PositiveIntegerField(default=1),
        ),
    ]
