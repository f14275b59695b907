"The seed's entry point: `uv run main.py [options]` is `spatial-vae run [options]`."
import sys

from spatial_vae.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
