from stackrun.cli.entry import main

main()
