"""The audit log: hash-chained entries per tenant, Merkle tree heads, signed checkpoints."""
