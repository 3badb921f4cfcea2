FleetgateBench.main()
