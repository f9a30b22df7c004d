# L3: an evidence document may record an audit or a visit of a subcontractor (its date, the
# subcontractor); a declaration may be withdrawn (issue 11).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0002_breaches_own_app'),
    ]

    operations = [
        migrations.AddField(
            model_name='evidencedocument',
            name='performed_on',
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='evidencedocument',
            name='record',
            field=models.CharField(choices=[('document', 'A document'), ('audit', 'A security audit of a subcontractor'), ('visit', 'A visit of a subcontractor')], default='document', max_length=16),
        ),
        migrations.AddField(
            model_name='evidencedocument',
            name='subcontractor',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name='declaration',
            name='change',
            field=models.CharField(choices=[('declared', 'declared'), ('changed', 'changed'), ('reviewed', 'reviewed, unchanged'), ('withdrawn', 'withdrawn')], max_length=16),
        ),
    ]
