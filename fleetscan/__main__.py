from fleetscan.cli import main

main()
