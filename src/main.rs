use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = gpuplan::cli::Cli::parse();
    match gpuplan::app::run(cli) {
        Ok(out) => {
            // a closed pipe (`| head`) is not an error worth reporting
            let _ = std::io::stdout().write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            // a missing GPU / NVML / CUDA library has its own exit code (`gpuplan validate --help`)
            if e.downcast_ref::<gpuplan::measure::DeviceUnavailable>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
