from stackrun.cli.app import main

main()
