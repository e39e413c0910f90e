"""Monthly statements: the data (`selectors`), the CSV (`exports`), the monthly sending (`services`)
and the pages (`views`)."""
