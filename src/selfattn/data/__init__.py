"""selfattn.data: from raw data to batches of vector sets (placeholder while building)."""
