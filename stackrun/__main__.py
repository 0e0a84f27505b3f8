from stackrun.cli.main import main

main()
