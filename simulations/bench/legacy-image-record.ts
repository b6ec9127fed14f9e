import { copyFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { digestFile, manifestRootOf } from '../../node/images/files.ts'
import { detectFormat, parseRecord } from '../../node/images/warehouse.ts'
import type { ImageRecordV1, Warehouse } from '../../node/images/warehouse.ts'

// A version 1 warehouse entry (the content named by the whole file's sha256, an import's id), as warehouses wrote
// them before content roots: for the tests that old records still work and for the transfer bench's comparison with
// the code of before (which reads version 1 only). The warehouse itself only writes version 2 now.

export async function importLegacy (warehouse: Warehouse, file: string, names: string[] = []): Promise<ImageRecordV1> {
  await warehouse.init()
  const d = await digestFile(file)
  const record: ImageRecordV1 = {
    v: 1,
    id: d.sha256,
    format: await detectFormat(file),
    sha256: d.sha256,
    size: d.size,
    chunkSize: d.chunkSize,
    manifestRoot: manifestRootOf(d.chunkHashes),
    names,
    params: null,
    source: 'import',
    createdAt: new Date().toISOString()
  }
  parseRecord(record, 'importLegacy')
  await copyFile(file, warehouse.imagePath(record))
  await writeFile(join(warehouse.dir, `${record.id}.chunks`), d.chunkHashes)
  await writeFile(join(warehouse.dir, `${record.id}.json`), JSON.stringify(record, null, 2) + '\n')
  return record
}
