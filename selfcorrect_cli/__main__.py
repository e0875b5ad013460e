from selfcorrect_cli.cli import main

main()
