//! Reading a file the operator names (a scenario, an event): only a regular file, and only up
//! to [`MAX_INPUT_BYTES`], so `/dev/zero` or a FIFO is refused at once instead of read forever.

use std::io::Read;
use std::path::Path;

/// The largest input file karpdeck reads (256 MiB: a 150,000-pod `kubectl get -o yaml` is
/// about a quarter of that).
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// The file's text, or why it cannot be read, in a few words (the caller names the file).
pub fn read_text(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file (a directory, device or pipe)".into());
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(format!(
            "{} bytes, more than the {} MiB karpdeck reads",
            meta.len(),
            MAX_INPUT_BYTES / (1024 * 1024)
        ));
    }
    let mut text = String::new();
    // Bounded again as it is read: the file may grow meanwhile.
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "more than the {} MiB karpdeck reads",
            MAX_INPUT_BYTES / (1024 * 1024)
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read() {
        assert!(read_text(Path::new("/dev/zero"))
            .unwrap_err()
            .starts_with("not a regular file"));
        assert!(read_text(Path::new("/")).is_err());
        assert!(read_text(Path::new("/no/such/file")).is_err());
        let p = std::env::temp_dir().join(format!("karpdeck-input-{}", std::process::id()));
        std::fs::write(&p, "a: 1\n").unwrap();
        assert_eq!(read_text(&p).unwrap(), "a: 1\n");
        let _ = std::fs::remove_file(&p);
    }
}
