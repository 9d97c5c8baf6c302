"""Personal data: the subjects a GDPR request names and the pseudonyms that stand for
them in everything we persist (``pseudonyms.py``), and retention cut-offs
(``retention.py``)."""
