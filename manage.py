#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coinsite.settings")
    from django.core.management import execute_from_command_line

    from coinsite import embedded_db

    # With DATABASE_URL unset in development, the embedded PostgreSQL runs while the command does.
    with embedded_db.running_if_needed():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
