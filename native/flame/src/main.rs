//! `hongbao-flame`: folded stacks (`a;b;c 12` per line, on stdin) to an SVG flamegraph (on
//! stdout), drawn by inferno. bench:flame builds it on demand (`cargo build --release -p
//! hongbao-flame`) and gives it the title and the colour of every frame by category (inferno's
//! palette map format, `NAME->rgb(R,G,B)` per line): the frames of the engine red, JavaScript
//! green, uWS blue and so on, as the bench reports its shares.

#![deny(clippy::all)]

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::process::ExitCode;

use inferno::flamegraph::{self, color::PaletteMap, Options};

const USAGE: &str = "usage: hongbao-flame [--title TEXT] [--subtitle TEXT] [--colours FILE] [--width PX] < folded > flamegraph.svg";

#[derive(Debug)]
struct Args {
    title: String,
    subtitle: Option<String>,
    colours: Option<String>,
    width: Option<usize>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        title: "Flame Graph".to_owned(),
        subtitle: None,
        colours: None,
        width: None,
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--title" => args.title = value()?,
            "--subtitle" => args.subtitle = Some(value()?),
            "--colours" => args.colours = Some(value()?),
            "--width" => {
                let v = value()?;
                args.width = Some(
                    v.parse()
                        .map_err(|_| format!("--width must be a whole number, got {v:?}"))?,
                );
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn run(args: Args) -> io::Result<()> {
    let mut palette = match &args.colours {
        Some(file) => Some(PaletteMap::from_reader(&mut BufReader::new(File::open(
            file,
        )?))?),
        None => None,
    };
    let mut options = Options::default();
    options.title = args.title;
    options.subtitle = args.subtitle;
    options.image_width = args.width;
    options.palette_map = palette.as_mut();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    flamegraph::from_reader(&mut options, io::stdin().lock(), &mut out)?;
    out.flush()
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hongbao-flame: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags_are_read() {
        let a = args(&["--title", "t", "--colours", "c.txt", "--width", "900"]).unwrap();
        assert_eq!(
            (a.title.as_str(), a.colours.as_deref(), a.width),
            ("t", Some("c.txt"), Some(900))
        );
        assert!(args(&["--width", "x"])
            .unwrap_err()
            .contains("whole number"));
        assert!(args(&["--title"]).unwrap_err().contains("needs a value"));
        assert!(args(&["--nope"]).unwrap_err().contains("unknown argument"));
    }

    #[test]
    fn folded_stacks_become_an_svg_with_the_given_colours() {
        let folded = "main thread;run;engine_shake 30\nmain thread;run;js_frame 10\n";
        let mut palette =
            PaletteMap::from_reader(&mut "engine_shake->rgb(220,60,60)\n".as_bytes()).unwrap();
        let mut options = Options::default();
        options.title = "test".to_owned();
        options.palette_map = Some(&mut palette);
        let mut svg = Vec::new();
        flamegraph::from_reader(&mut options, folded.as_bytes(), &mut svg).unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.starts_with("<?xml"), "an SVG document");
        assert!(svg.contains("engine_shake"), "with the frames");
        assert!(
            svg.contains("rgb(220,60,60)"),
            "coloured from the palette map"
        );
    }
}
