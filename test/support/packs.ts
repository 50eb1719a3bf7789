/**
 * CMSIS-Packs for tests: a .pdsc written here in the shape of Nordic's nRF Device Family Pack
 * (family → subFamily → device, Cortex-M0, IROM1/IRAM1, one algorithm with RAMstart/RAMsize),
 * zipped with fflate around the vendor-style nRF51 .FLM this project builds. Vendor packs are never
 * committed; this is how their shape reaches the tests.
 */
import { readFileSync } from 'node:fs';
import { strToU8, zipSync } from 'fflate';
import { firmwarePath } from './firmware';

export const TEST_PACK_ID = 'NordicSemiconductor.nRF_DeviceFamilyPack_Test';
export const TEST_PACK_PDSC = `${TEST_PACK_ID}.pdsc`;

/** Devices: [Dname, IRAM1 size]. */
const DEVICES: [string, number][] = [
  ['nRF51822_xxAA', 0x4000],
  ['nRF51822_xxAC', 0x8000],
];

export function testPdsc(version: string, algorithm = 'Flash\\nrf51xxx_vendor.FLM', devices = DEVICES): string {
  const device = ([name, ram]: [string, number]) => `        <device Dname="${name}">
          <memory id="IROM1" start="0x00000000" size="0x40000" startup="1" default="1"/>
          <memory id="IRAM1" start="0x20000000" size="0x${ram.toString(16)}" init="0" default="1"/>
          <algorithm name="${algorithm}" start="0x00000000" size="0x40000" RAMstart="0x20000000" RAMsize="0x4000" default="1"/>
        </device>
`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<package schemaVersion="1.7.2" xmlns:xs="http://www.w3.org/2001/XMLSchema-instance">
  <vendor>NordicSemiconductor</vendor>
  <name>nRF_DeviceFamilyPack_Test</name>
  <description>nRF51 devices for Dapdeck's pack test</description>
  <releases><release version="${version}">test</release></releases>
  <devices>
    <family Dfamily="nRF51 Series" Dvendor="Nordic Semiconductor:54">
      <processor Dcore="Cortex-M0" DcoreVersion="r0p0" Dfpu="NO_FPU" Dmpu="NO_MPU" Dendian="Little-endian" Dclock="16000000"/>
      <subFamily DsubFamily="nRF51822">
${devices.map(device).join('')}      </subFamily>
    </family>
  </devices>
</package>`;
}

export function vendorStyleFlm(): Uint8Array {
  return readFileSync(firmwarePath('flash-nrf51', 'microbit', 'vendor-style'));
}

/** The files of a good pack (with an SVD, which Dapdeck does not keep). */
export function testPackFiles(version: string, devices = DEVICES): Record<string, Uint8Array> {
  return { [TEST_PACK_PDSC]: strToU8(testPdsc(version, undefined, devices)), 'Flash/nrf51xxx_vendor.FLM': vendorStyleFlm(), 'SVD/nrf51.svd': strToU8('<device/>') };
}

export function testPack(version: string, devices = DEVICES): Uint8Array {
  return zipSync(testPackFiles(version, devices));
}
