from typing import Any

def scan_tsv(buf: Any, cfg: Any, roles: Any, table: Any, out_t: Any, out_i: Any,
             counts: Any, /) -> tuple[int, int, int]: ...
