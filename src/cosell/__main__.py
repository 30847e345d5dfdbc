from cosell.cli.main import main

main()
