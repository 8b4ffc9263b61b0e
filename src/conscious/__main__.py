from conscious.cli import main

main()
