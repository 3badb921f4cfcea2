print("fleetgate-agent")
