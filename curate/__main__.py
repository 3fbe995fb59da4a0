from curate.cli import main

# Guarded: engines that spawn worker processes (vLLM) re-import the main module.
if __name__ == "__main__":
    raise SystemExit(main())
