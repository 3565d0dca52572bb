from training.commands.train import main

main()
