//! Build contexts, re-encoded: berth reads the learner's tar (plain or gzip) from a file on
//! disk, never holding it in memory, checks every entry, and writes the engine a tar of its
//! own with the canonical Dockerfile in place of theirs.
//!
//! What the engine would read differently from berth is refused: two entries with one name,
//! entries under a symbolic link, a Dockerfile that is not a plain file, device files, names
//! that climb out with `..`. Extended attributes and set-id bits are not passed on.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use http_body_util::BodyExt;

use super::super::refusal::Refusal;
use super::super::wire::unread::Guarded;

/// The Dockerfile is read up to this size.
const MAX_DOCKERFILE: u64 = 1 << 20;
/// Entries in one context.
const MAX_ENTRIES: usize = 100_000;

/// A file berth wrote for a build; removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn new(dir: &Path) -> std::io::Result<Scratch> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("build-{}", crate::session::random_hex(8)));
        File::create(&path)?;
        Ok(Scratch { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn io_refusal(error: std::io::Error) -> Refusal {
    Refusal {
        status: 500,
        message: format!("berth: could not keep the build context: {error}"),
    }
}

fn damaged(error: impl std::fmt::Display) -> Refusal {
    Refusal::bad_request(format!("the build context is damaged: {error}"))
}

/// Writes the request body to a scratch file, up to `limit` bytes.
pub async fn spool(body: Guarded, dir: &Path, limit: u64) -> Result<Scratch, Refusal> {
    use tokio::io::AsyncWriteExt;
    let scratch = Scratch::new(dir).map_err(io_refusal)?;
    let mut file = tokio::fs::File::create(scratch.path())
        .await
        .map_err(io_refusal)?;
    let mut body = body;
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Refusal::bad_request(format!("berth: could not read the build context: {e}"))
        })?;
        if let Some(data) = frame.data_ref() {
            written += data.len() as u64;
            if written > limit {
                return Err(Refusal::too_large(limit));
            }
            file.write_all(data).await.map_err(io_refusal)?;
        }
    }
    file.flush().await.map_err(io_refusal)?;
    Ok(scratch)
}

/// The context's entries, gzip or not, read from the start.
fn open(path: &Path) -> Result<Box<dyn Read>, Refusal> {
    let mut file = BufReader::new(File::open(path).map_err(io_refusal)?);
    let mut magic = [0u8; 2];
    let read = file.read(&mut magic).map_err(io_refusal)?;
    let head = std::io::Cursor::new(magic[..read].to_vec());
    let chained = head.chain(file);
    if magic[..read] == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::GzDecoder::new(chained)))
    } else {
        Ok(Box::new(chained))
    }
}

/// A name as the engine unpacks it (`filepath.Clean`, relative to the context), or `None` for
/// the context's root itself.
fn clean(name: &[u8]) -> Result<Option<Vec<u8>>, Refusal> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                return Err(Refusal::bad_request(format!(
                    "the build context names {} outside itself",
                    String::from_utf8_lossy(name)
                )));
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(parts.join(&b'/')))
}

/// What kind of entry, as berth passes it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
}

fn kind_of(entry_type: tar::EntryType, name: &[u8]) -> Result<Option<Kind>, Refusal> {
    use tar::EntryType as T;
    Ok(Some(match entry_type {
        T::Regular | T::Continuous => Kind::File,
        T::Directory => Kind::Dir,
        T::Symlink => Kind::Symlink,
        T::Link => Kind::Hardlink,
        T::XGlobalHeader | T::XHeader => return Ok(None),
        _ => {
            return Err(Refusal::forbidden(format!(
                "the build context holds {}, which is not a file, folder or link; remove it from the context",
                String::from_utf8_lossy(name)
            )));
        }
    }))
}

/// One pass over the context, checking every entry and calling `each` with the clean name.
fn walk(
    path: &Path,
    limit: u64,
    mut each: impl FnMut(&[u8], Kind, &mut tar::Entry<'_, Box<dyn Read>>) -> Result<(), Refusal>,
) -> Result<(), Refusal> {
    let mut archive = tar::Archive::new(open(path)?);
    let mut seen: HashMap<Vec<u8>, Kind> = HashMap::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let raw = entry.path_bytes().into_owned();
        let Some(kind) = kind_of(entry.header().entry_type(), &raw)? else {
            continue;
        };
        let Some(name) = clean(&raw)? else {
            continue;
        };
        total = total.saturating_add(entry.size().saturating_add(512));
        if total > limit {
            return Err(Refusal::too_large(limit));
        }
        if seen.len() >= MAX_ENTRIES {
            return Err(Refusal::forbidden(format!(
                "the build context has more than {MAX_ENTRIES} files; add a .dockerignore"
            )));
        }
        // Every folder above the entry must be a folder (or not listed): never a link or file.
        for (at, _) in name.iter().enumerate().filter(|(_, b)| **b == b'/') {
            if let Some(parent) = seen.get(&name[..at])
                && *parent != Kind::Dir
            {
                return Err(Refusal::forbidden(format!(
                    "the build context has {} under a link or file; berth does not follow links inside a context",
                    String::from_utf8_lossy(&name)
                )));
            }
        }
        if seen.insert(name.clone(), kind).is_some() {
            return Err(Refusal::forbidden(format!(
                "the build context holds {} twice",
                String::from_utf8_lossy(&name)
            )));
        }
        each(&name, kind, &mut entry)?;
    }
    Ok(())
}

/// The name of the Dockerfile in the context, as given with `-f` (relative, clean).
pub fn dockerfile_name(given: &str) -> Result<Vec<u8>, Refusal> {
    let given = if given.is_empty() {
        "Dockerfile"
    } else {
        given
    };
    clean(given.as_bytes())?
        .ok_or_else(|| Refusal::bad_request(format!("Cannot locate specified Dockerfile: {given}")))
}

/// Checks the whole context and returns the Dockerfile's bytes.
pub fn read_dockerfile(path: &Path, dockerfile: &[u8], limit: u64) -> Result<Vec<u8>, Refusal> {
    let mut found: Option<Vec<u8>> = None;
    walk(path, limit, |name, kind, entry| {
        if name != dockerfile {
            return Ok(());
        }
        if kind != Kind::File {
            return Err(Refusal::forbidden(
                "the Dockerfile must be a plain file in the context, not a link",
            ));
        }
        if entry.size() > MAX_DOCKERFILE {
            return Err(Refusal::forbidden("the Dockerfile is larger than 1 MiB"));
        }
        let mut bytes = Vec::new();
        entry
            .take(MAX_DOCKERFILE)
            .read_to_end(&mut bytes)
            .map_err(damaged)?;
        found = Some(bytes);
        Ok(())
    })?;
    found.ok_or_else(|| {
        Refusal::bad_request(format!(
            "Cannot locate specified Dockerfile: {}",
            String::from_utf8_lossy(dockerfile)
        ))
    })
}

/// Writes the context again, entry by entry from berth's own headers, with `text` as the
/// Dockerfile.
pub fn write_canonical(
    path: &Path,
    dockerfile: &[u8],
    text: &str,
    limit: u64,
    out: &Path,
) -> Result<(), Refusal> {
    let file = File::create(out).map_err(io_refusal)?;
    let mut builder = tar::Builder::new(BufWriter::new(file));
    builder.mode(tar::HeaderMode::Complete);
    walk(path, limit, |name, kind, entry| {
        let source = entry.header();
        let mut header = tar::Header::new_gnu();
        header.set_mode(source.mode().unwrap_or(0o644) & 0o1777);
        header.set_uid(source.uid().unwrap_or(0));
        header.set_gid(source.gid().unwrap_or(0));
        header.set_mtime(source.mtime().unwrap_or(0));
        let name = Path::new(std::ffi::OsStr::from_bytes_lossless(name));
        match kind {
            Kind::File if name.as_os_str().as_encoded_bytes() == dockerfile => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(text.len() as u64);
                builder.append_data(&mut header, name, text.as_bytes())
            }
            Kind::File => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(entry.size());
                builder.append_data(&mut header, name, &mut *entry)
            }
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, name, std::io::empty())
            }
            Kind::Symlink | Kind::Hardlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target = if kind == Kind::Hardlink {
                    header.set_entry_type(tar::EntryType::Link);
                    clean(&target)?.unwrap_or_default()
                } else {
                    header.set_entry_type(tar::EntryType::Symlink);
                    target
                };
                header.set_size(0);
                builder.append_link(
                    &mut header,
                    name,
                    Path::new(std::ffi::OsStr::from_bytes_lossless(&target)),
                )
            }
        }
        .map_err(io_refusal)
    })?;
    let mut writer = builder.into_inner().map_err(io_refusal)?;
    writer.flush().map_err(io_refusal)?;
    Ok(())
}

/// Byte names as paths (Linux file names are bytes).
trait FromBytes {
    fn from_bytes_lossless(bytes: &[u8]) -> &Self;
}

impl FromBytes for std::ffi::OsStr {
    fn from_bytes_lossless(bytes: &[u8]) -> &std::ffi::OsStr {
        std::os::unix::ffi::OsStrExt::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o755);
            header.set_size(data.len() as u64);
            if kind.is_symlink() || kind.is_hard_link() {
                header.set_size(0);
                builder.append_link(&mut header, name, link).unwrap();
            } else {
                // Written raw, so duplicate and odd names stay as given.
                header.set_path(name).unwrap();
                header.set_cksum();
                builder.append(&header, *data).unwrap();
            }
        }
        builder.into_inner().unwrap()
    }

    fn scratch_with(bytes: &[u8]) -> Scratch {
        let dir = std::env::temp_dir().join("berth-context-tests");
        let scratch = Scratch::new(&dir).unwrap();
        std::fs::write(scratch.path(), bytes).unwrap();
        scratch
    }

    use tar::EntryType as T;

    #[test]
    fn the_dockerfile_is_found_and_replaced() {
        let context = tar_of(&[
            ("./Dockerfile", T::Regular, b"FROM victim\n", ""),
            ("app/", T::Directory, b"", ""),
            ("app/a.txt", T::Regular, b"hello", ""),
            ("link", T::Symlink, b"", "app/a.txt"),
        ]);
        let input = scratch_with(&context);
        let name = dockerfile_name("Dockerfile").unwrap();
        let text = read_dockerfile(input.path(), &name, 1 << 20).unwrap();
        assert_eq!(text, b"FROM victim\n");
        let output = Scratch::new(&std::env::temp_dir().join("berth-context-tests")).unwrap();
        write_canonical(
            input.path(),
            &name,
            "FROM sha256:x\n",
            1 << 20,
            output.path(),
        )
        .unwrap();
        let again = read_dockerfile(output.path(), &name, 1 << 20).unwrap();
        assert_eq!(again, b"FROM sha256:x\n");
        let mut archive = tar::Archive::new(File::open(output.path()).unwrap());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["Dockerfile", "app", "app/a.txt", "link"]);
    }

    #[test]
    fn contexts_the_engine_would_read_differently_are_refused() {
        let cases: Vec<Vec<u8>> = vec![
            tar_of(&[
                ("Dockerfile", T::Regular, b"FROM busybox\n", ""),
                ("./Dockerfile", T::Regular, b"FROM victim\n", ""),
            ]),
            tar_of(&[
                ("real", T::Regular, b"FROM victim\n", ""),
                ("Dockerfile", T::Symlink, b"", "real"),
            ]),
            tar_of(&[
                ("real", T::Regular, b"FROM victim\n", ""),
                ("Dockerfile", T::Link, b"", "real"),
            ]),
            tar_of(&[
                ("sub", T::Symlink, b"", "."),
                ("sub/Dockerfile", T::Regular, b"FROM busybox\n", ""),
                ("Dockerfile", T::Regular, b"FROM busybox\n", ""),
            ]),
            tar_of(&[
                ("Dockerfile", T::Regular, b"FROM busybox\n", ""),
                ("dev", T::Char, b"", ""),
            ]),
        ];
        let name = dockerfile_name("Dockerfile").unwrap();
        for (index, context) in cases.iter().enumerate() {
            let input = scratch_with(context);
            assert!(
                read_dockerfile(input.path(), &name, 1 << 20).is_err(),
                "case {index}"
            );
        }
        assert!(dockerfile_name("../Dockerfile").is_err());
        assert_eq!(
            dockerfile_name("./sub//Dockerfile").unwrap(),
            b"sub/Dockerfile"
        );
    }

    #[test]
    fn a_context_that_expands_past_the_limit_is_refused() {
        let big = vec![0u8; 4 << 20];
        let context = tar_of(&[
            ("Dockerfile", T::Regular, b"FROM busybox\n", ""),
            ("big", T::Regular, &big, ""),
        ]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&context).unwrap();
        let compressed = gz.finish().unwrap();
        assert!(compressed.len() < 64 << 10);
        let input = scratch_with(&compressed);
        let name = dockerfile_name("").unwrap();
        let refused = read_dockerfile(input.path(), &name, 1 << 20).unwrap_err();
        assert_eq!(refused.status, 413);
        assert!(read_dockerfile(input.path(), &name, 8 << 20).is_ok());
    }
}
