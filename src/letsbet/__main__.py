from letsbet.cli import main

main()
