"""One memory budget for every RocksDB database of a worker.

A worker opens one database per table and partition (13 tables x 4 partitions by
default), and RocksDB sizes memtables and block caches per database: with a 16 MiB
cache and two 4 MiB memtables each, what the worker may hold grows with the number of
databases, not with its data, and a worker with 200,000 alerts spent a quarter of its
RSS there.  Here every database shares one LRU block cache and one write-buffer
manager (RocksDB flushes the largest memtable when the total passes the limit), so
RocksDB's memory is bounded by ``ALERTSTREAM_ROCKSDB_MEMORY_MB`` whatever the count.
"""

from __future__ import annotations

from typing import Any

import rocksdict
from faust.stores.rocksdb import RocksDBOptions


class RocksDBMemory:
    """The shared cache and memtable budget; half of ``megabytes`` each."""

    def __init__(self, megabytes: int) -> None:
        half = max(megabytes, 2) * 1024 * 1024 // 2
        self.cache = rocksdict.Cache(half)
        # allow_stall=False: past the limit RocksDB flushes sooner; writers never wait
        self.write_buffers = rocksdict.WriteBufferManager(half, False)

    def adopt(self, table: Any) -> None:
        """Open ``table``'s databases (a Faust Table on the RocksDB store) within the
        budget; called when the table is declared, before any database is opened."""
        store = table.data
        store.rocksdb_options = BudgetedOptions(self, store.rocksdb_options)


class BudgetedOptions(RocksDBOptions):
    """Faust's options for one table, with the worker's shared cache and memtables."""

    def __init__(self, memory: RocksDBMemory, base: RocksDBOptions) -> None:
        super().__init__(
            max_open_files=base.max_open_files,
            write_buffer_size=base.write_buffer_size,
            max_write_buffer_number=base.max_write_buffer_number,
            target_file_size_base=base.target_file_size_base,
            bloom_filter_size=base.bloom_filter_size,
            use_rocksdict=True,
            ttl=base.ttl,
        )
        self.memory = memory

    def as_options(self) -> rocksdict.Options:
        options = super().as_options()
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(self.memory.cache)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        options.set_write_buffer_manager(self.memory.write_buffers)
        return options
