"""Issue 9 (O2, G3, E10, H3): the fingerprint of the key file that belongs to the database.

The row itself is written after every migrate by ``secretum.crypto.binding.bind_after_migrate``
(a post_migrate handler): at ``secretum init``, or once for an instance made before this table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='KeyFingerprint',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ('scheme', models.CharField(max_length=40)),
                ('fingerprint', models.CharField(max_length=64)),
                ('origin', models.CharField(choices=[('init', 'Init'), ('adopted', 'Adopted')], max_length=8)),
                ('recorded_at', models.DateTimeField()),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='crypto_keyfingerprint_one_row')],
            },
        ),
    ]
