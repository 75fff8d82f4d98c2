"""Imports of uploaded files: reading (sources), checking (validation), loading (loaders), running (runner)."""
