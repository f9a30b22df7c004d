# Care relationships, break-the-glass grants and the access policy, sealed (C1, C2; access/models.py).

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
import secretum.crypto.rows
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('patients', '0003_pad_search_tokens'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AccessPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('shared_record', models.BooleanField(default=False)),
                ('relationship_months', models.PositiveSmallIntegerField(default=18, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(120)])),
                ('glass_hours', models.PositiveSmallIntegerField(default=4, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(12)])),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('row_seal', models.BinaryField(max_length=32, null=True)),
            ],
            bases=(secretum.crypto.rows.SealedRow, models.Model),
        ),
        migrations.CreateModel(
            name='CareRelationship',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('origin', models.CharField(choices=[('declared', 'Declared'), ('consultation', 'Consultation'), ('appointment', 'Appointment'), ('referral', 'Referral')], max_length=16)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('last_contact_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('ended_at', models.DateTimeField(null=True)),
                ('row_seal', models.BinaryField(max_length=32, null=True)),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='patients.patient')),
                ('practitioner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('patient', 'practitioner'), name='care_once')],
            },
            bases=(secretum.crypto.rows.SealedRow, models.Model),
        ),
        migrations.CreateModel(
            name='GlassBreak',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uid', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('category', models.CharField(choices=[('emergency', 'Emergency'), ('replacement', 'Replacement'), ('other', 'Other')], max_length=16)),
                ('reason', models.CharField(max_length=200)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('expires_at', models.DateTimeField()),
                ('reviewed_at', models.DateTimeField(null=True)),
                ('justified', models.BooleanField(null=True)),
                ('review_comment', models.CharField(blank=True, max_length=500)),
                ('row_seal', models.BinaryField(max_length=32, null=True)),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='patients.patient')),
                ('practitioner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('reviewed_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['practitioner', 'patient', 'expires_at'], name='glass_access'), models.Index(fields=['reviewed_at', 'started_at'], name='glass_review')],
            },
            bases=(secretum.crypto.rows.SealedRow, models.Model),
        ),
    ]
