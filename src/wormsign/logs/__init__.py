"""Log readers: every input format becomes :class:`~wormsign.logs.record.Request` records.

Readers are registered by format id in :data:`wormsign.logs.formats.FORMATS`.
"""
