"""Gift events are append-only in the database too, like the ledger rows they point at.

TRUNCATE is left alone, as for the ledger: the test runner flushes tables with it.
"""

from django.db import migrations

APPEND_ONLY_SQL = """
CREATE FUNCTION gifting_giftevent_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'gift events are append-only: % is not allowed', TG_OP USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER gifting_giftevent_append_only
    BEFORE UPDATE OR DELETE ON gifting_giftevent
    FOR EACH STATEMENT EXECUTE FUNCTION gifting_giftevent_forbid_change();
"""

APPEND_ONLY_REVERSE_SQL = """
DROP TRIGGER gifting_giftevent_append_only ON gifting_giftevent;
DROP FUNCTION gifting_giftevent_forbid_change();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("gifting", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(APPEND_ONLY_SQL, APPEND_ONLY_REVERSE_SQL),
    ]
