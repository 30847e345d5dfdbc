from cosell.cli import main

main()
