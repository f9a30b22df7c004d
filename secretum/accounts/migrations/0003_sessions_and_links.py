# Sessions keyed by digest and sealed (B1, O2); purposes of one-time links (B3).

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone


def end_clear_sessions(apps, schema_editor):
    """The old session table holds usable identifiers in clear: they go, and every session
    recorded until now ends (everyone logs in again once, under the new store)."""
    apps.get_model("accounts", "UserSession").objects.filter(ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason="upgrade"
    )
    apps.get_model("sessions", "Session").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_external_identity'),
        ('sessions', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(end_clear_sessions, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='usersession',
            name='session_key',
        ),
        migrations.AddField(
            model_name='enrolmenttoken',
            name='purpose',
            field=models.CharField(choices=[('enrol', 'Enrol'), ('factors', 'Factors'), ('password', 'Password')], default='enrol', max_length=16),
        ),
        migrations.CreateModel(
            name='SessionData',
            fields=[
                ('session_data', models.TextField(verbose_name='session data')),
                ('expire_date', models.DateTimeField(db_index=True, verbose_name='expire date')),
                ('session_key', models.CharField(max_length=64, primary_key=True, serialize=False)),
                ('record', models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.usersession')),
            ],
            options={
                'verbose_name': 'session',
                'verbose_name_plural': 'sessions',
                'abstract': False,
            },
        ),
    ]
