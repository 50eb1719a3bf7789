/**
 * Device permissions: the window may reach CMSIS-DAP probes (WebUSB/WebHID) and the serial ports
 * the user picked in the app's own picker — nothing else, and no other permission (camera,
 * geolocation, notifications…) at all.
 */

export interface DeviceLike {
  vendorId?: number | string;
  productId?: number | string;
  /** USB product string (WebUSB). */
  productName?: string;
  /** HID product string (WebHID). */
  name?: string;
  deviceId?: string;
  portId?: string;
}

/** CMSIS-DAP probes say so in their product string (the spec requires "CMSIS-DAP" in it). */
export function isCmsisDap(device: DeviceLike): boolean {
  return /CMSIS-DAP/i.test(device.productName ?? device.name ?? '');
}

export interface SessionLike {
  setPermissionRequestHandler(handler: (webContents: unknown, permission: string, callback: (granted: boolean) => void, details: { requestingUrl?: string }) => void): void;
  setPermissionCheckHandler(handler: (webContents: unknown, permission: string, origin: string) => boolean): void;
  setDevicePermissionHandler(handler: (details: { deviceType: string; origin: string; device: DeviceLike }) => boolean): void;
}

export const ALLOWED_CHECKS = new Set(['usb', 'hid', 'serial', 'clipboard-sanitized-write']);

export function installPermissionHandlers(session: SessionLike, appOrigin: () => string, pickedPorts: Set<string>): void {
  const ours = (origin: string | undefined) => !!origin && origin.replace(/\/$/, '') === appOrigin().replace(/\/$/, '');
  session.setPermissionRequestHandler((_wc, permission, callback, details) => callback(ALLOWED_CHECKS.has(permission) && ours(details.requestingUrl ? new URL(details.requestingUrl).origin : undefined)));
  session.setPermissionCheckHandler((_wc, permission, origin) => ALLOWED_CHECKS.has(permission) && ours(origin));
  session.setDevicePermissionHandler(({ deviceType, origin, device }) => {
    if (!ours(origin)) return false;
    if (deviceType === 'usb' || deviceType === 'hid') return isCmsisDap(device);
    if (deviceType === 'serial') return !!device.portId && pickedPorts.has(device.portId);
    return false;
  });
}
