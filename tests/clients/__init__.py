"""The sync and asyncio clients, the HTTP door, the CLI's units, the wire."""
