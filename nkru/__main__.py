from nkru.cli import main

main()
