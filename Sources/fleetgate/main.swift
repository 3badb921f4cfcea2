import FleetCLI

// Everything is in FleetCLI (so the tests reach it); this only runs it and exits with its status.
await FleetgateCommand.entry()
