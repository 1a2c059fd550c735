"""Train SAM-HQ: python train.py [hydra overrides], the same as the installed `samhq-train`
(samhq_train/cli/train.py, through cli/commands.py as the installed one). No arguments: the CPU
demo (experiment=demo).

python train.py experiment=paper model=vit_l \\
        model.checkpoint=/path/sam_vit_l_0b3195.pth data.root=/path/hqseg44k

A setup error (a bad config value, checkpoint, data root or output folder) is one line on stderr
and exit status 2; an interrupted run (SIGINT / SIGTERM) prints the command that resumes it and
exits with 130 / 143.
"""

from samhq_train.cli.commands import train as main  # imports the command once a signal is one line

if __name__ == "__main__":
    main()
