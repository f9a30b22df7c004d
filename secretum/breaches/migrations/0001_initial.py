# The breach register moves here from the compliance app, keeping its tables: this migration
# creates the models in Django's state only (their tables exist, made by compliance 0001), and
# compliance 0002 removes them from the compliance app's state. `migrate` on an existing database
# changes no table and keeps every row (tests/breaches/test_migrations.py).

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('compliance', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Breach',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('uid', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                        ('aware_at', models.DateTimeField()),
                        ('recorded_at', models.DateTimeField()),
                        ('status', models.CharField(choices=[('open', 'open: being assessed'), ('notified', 'authority notified'), ('closed', 'closed')], default='open', max_length=16)),
                        ('risk', models.CharField(choices=[('unassessed', 'not assessed yet'), ('unlikely', 'unlikely to result in a risk for people (no notification)'), ('risk', 'a risk for people (notify the authority)'), ('high', 'a high risk for people (notify the authority and inform them)')], default='unassessed', max_length=16)),
                        ('people_categories', models.CharField(blank=True, max_length=200)),
                        ('people_count', models.PositiveIntegerField(null=True)),
                        ('record_categories', models.CharField(blank=True, max_length=200)),
                        ('records_count', models.PositiveIntegerField(null=True)),
                        ('narrative', models.BinaryField()),
                        ('authority_notified_at', models.DateTimeField(null=True)),
                        ('authority_reference', models.CharField(blank=True, max_length=64)),
                        ('people_informed_at', models.DateTimeField(null=True)),
                        ('closed_at', models.DateTimeField(null=True)),
                        ('updated_at', models.DateTimeField()),
                        ('recorded_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'compliance_breach',
                    },
                ),
                migrations.CreateModel(
                    name='BreachUpdate',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('at', models.DateTimeField()),
                        ('kind', models.CharField(choices=[('reported', 'reported'), ('assessed', 'assessed'), ('notified', 'authority notified'), ('informed', 'people informed'), ('closed', 'closed'), ('note', 'note')], max_length=16)),
                        ('fields', models.CharField(blank=True, max_length=300)),
                        ('sealed', models.BinaryField(null=True)),
                        ('breach', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='updates', to='breaches.breach')),
                        ('by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'compliance_breachupdate',
                        'ordering': ['at', 'id'],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
