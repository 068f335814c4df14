"""A stand-in for REAPER's Python host, for testing the live bridge with reapy's real client and our server."""
