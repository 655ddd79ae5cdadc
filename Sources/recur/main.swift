import RecurCLI

await RecurCommand.main()
