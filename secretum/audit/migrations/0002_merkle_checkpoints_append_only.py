"""Issue 4 (D2): Merkle leaf hashes and per-event authentication codes replace the hash chain;
signed checkpoints; triggers that refuse UPDATE and DELETE on the audit tables."""

from django.db import migrations, models


def seal_existing_events(apps, schema_editor):
    """Events written before this migration get their leaf hash and code now (the audit keys of
    an instance made before issue 4 are created here, once)."""
    AuditEvent = apps.get_model("audit", "AuditEvent")
    if not AuditEvent.objects.exists():
        return
    from django.conf import settings

    from secretum.audit import entries, keys

    paths = keys.AuditKeyPaths(settings.INSTANCE.home)
    if not paths.exist():
        keys.create(settings.INSTANCE.home)
    key = keys.load_mac_key(paths)
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        entries.seal(event, key)
        event.save(update_fields=["leaf_hash", "mac"])


def install_triggers(apps, schema_editor):
    from secretum.audit.db import install_triggers

    install_triggers(schema_editor.connection)


def drop_triggers(apps, schema_editor):
    from secretum.audit.db import drop_trigger_statements

    with schema_editor.connection.cursor() as cur:
        for sql in drop_trigger_statements(schema_editor.connection.vendor):
            cur.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(model_name="auditevent", name="prev_hash"),
        migrations.RemoveField(model_name="auditevent", name="hash"),
        migrations.AddField(
            model_name="auditevent",
            name="on_behalf_of",
            field=models.CharField(blank=True, default="", max_length=150),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="leaf_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="mac",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="at",
            field=models.DateTimeField(db_index=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("read", "Read"),
                    ("search", "Search"),
                    ("create", "Create"),
                    ("update", "Update"),
                    ("delete", "Delete"),
                    ("print", "Print"),
                    ("export", "Export"),
                    ("send", "Send"),
                    ("login", "Login"),
                    ("login-failed", "Login Failed"),
                    ("logout", "Logout"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["actor_name", "at"], name="audit_actor_at"),
        ),
        migrations.RunPython(seal_existing_events, migrations.RunPython.noop),
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("tree_size", models.BigIntegerField(unique=True)),
                ("root_hash", models.CharField(max_length=64)),
                ("signed_at", models.DateTimeField()),
                ("key_id", models.CharField(max_length=16)),
                ("signature", models.CharField(max_length=128)),
                ("frontier", models.TextField()),
            ],
            options={"ordering": ["tree_size"]},
        ),
        migrations.RunPython(install_triggers, drop_triggers),
    ]
