/*
 * A stand-in for hidapi (libhidapi-hidraw.so.0) for host tools that load it, such as OpenOCD's
 * CMSIS-DAP driver: it presents one CMSIS-DAP v1 HID device, Dapdeck's virtual probe, and passes
 * each 64-byte report to the probe model in a Node process over the unix socket named by
 * DAPDECK_HID_SOCKET. Nothing in the tool is changed; it just finds this library first on
 * LD_LIBRARY_PATH.
 *
 * Socket protocol (Node side: test/support/peer-socket.ts): the library sends 'W' + 64 bytes for
 * each report it writes and 'R' when it wants the next input report; the model answers every 'R'
 * with one 64-byte report, in order. A read that times out leaves its request standing, so the
 * report it asked for is the one the next read returns, as with a real interrupt IN endpoint.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <wchar.h>

#define REPORT_SIZE 64

struct hid_device_info {
	char *path;
	unsigned short vendor_id;
	unsigned short product_id;
	wchar_t *serial_number;
	unsigned short release_number;
	wchar_t *manufacturer_string;
	wchar_t *product_string;
	unsigned short usage_page;
	unsigned short usage;
	int interface_number;
	struct hid_device_info *next;
	int bus_type; /* hidapi 0.13: HID_API_BUS_USB = 1 */
};

typedef struct hid_device_ {
	int fd;
	int requested;             /* input reports asked for and not yet received */
	unsigned char partial[REPORT_SIZE];
	size_t have;               /* bytes of the next report received so far */
} hid_device;

/* An ARM DAPLink VID:PID, so tools that match on it find the probe; the product string says CMSIS-DAP. */
static const unsigned short VID = 0x0d28;
static const unsigned short PID = 0x0204;

static const char *socket_path(void)
{
	const char *p = getenv("DAPDECK_HID_SOCKET");
	return p && *p ? p : NULL;
}

int hid_init(void) { return 0; }
int hid_exit(void) { return 0; }

struct hid_device_info *hid_enumerate(unsigned short vendor_id, unsigned short product_id)
{
	const char *path = socket_path();
	if (!path || (vendor_id && vendor_id != VID) || (product_id && product_id != PID))
		return NULL;
	struct hid_device_info *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->path = strdup(path);
	d->vendor_id = VID;
	d->product_id = PID;
	d->serial_number = wcsdup(L"VB0001");
	d->release_number = 0x0100;
	d->manufacturer_string = wcsdup(L"Dapdeck");
	d->product_string = wcsdup(L"Dapdeck virtual CMSIS-DAP v1");
	d->usage_page = 0xff00;
	d->usage = 1;
	d->interface_number = 0;
	d->bus_type = 1;
	return d;
}

void hid_free_enumeration(struct hid_device_info *devs)
{
	while (devs) {
		struct hid_device_info *next = devs->next;
		free(devs->path);
		free(devs->serial_number);
		free(devs->manufacturer_string);
		free(devs->product_string);
		free(devs);
		devs = next;
	}
}

hid_device *hid_open_path(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (!path || strlen(path) >= sizeof addr.sun_path)
		return NULL;
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		close(fd);
		return NULL;
	}
	hid_device *dev = calloc(1, sizeof *dev);
	if (!dev) {
		close(fd);
		return NULL;
	}
	dev->fd = fd;
	return dev;
}

hid_device *hid_open(unsigned short vendor_id, unsigned short product_id, const wchar_t *serial)
{
	if ((vendor_id && vendor_id != VID) || (product_id && product_id != PID))
		return NULL;
	if (serial && wcscmp(serial, L"VB0001") != 0)
		return NULL;
	return socket_path() ? hid_open_path(socket_path()) : NULL;
}

static int send_all(int fd, const unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* data[0] is the report ID (0: the device uses none); a report is always its full 64 bytes. */
int hid_write(hid_device *dev, const unsigned char *data, size_t length)
{
	if (!dev || length < 1)
		return -1;
	unsigned char msg[1 + REPORT_SIZE] = { 'W' };
	size_t n = length - 1 > REPORT_SIZE ? REPORT_SIZE : length - 1;
	memcpy(msg + 1, data + 1, n);
	if (send_all(dev->fd, msg, sizeof msg) < 0)
		return -1;
	return (int)length;
}

int hid_read_timeout(hid_device *dev, unsigned char *data, size_t length, int milliseconds)
{
	if (!dev)
		return -1;
	if (dev->requested == 0) {
		unsigned char r = 'R';
		if (send_all(dev->fd, &r, 1) < 0)
			return -1;
		dev->requested = 1;
	}
	while (dev->have < REPORT_SIZE) {
		struct pollfd p = { .fd = dev->fd, .events = POLLIN };
		int ready = poll(&p, 1, milliseconds);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			return -1;
		if (ready == 0)
			return 0; /* timed out: the request stays outstanding */
		ssize_t n = recv(dev->fd, dev->partial + dev->have, REPORT_SIZE - dev->have, 0);
		if (n <= 0)
			return -1;
		dev->have += (size_t)n;
	}
	size_t n = length < REPORT_SIZE ? length : REPORT_SIZE;
	memcpy(data, dev->partial, n);
	dev->have = 0;
	dev->requested = 0;
	return (int)n;
}

int hid_read(hid_device *dev, unsigned char *data, size_t length)
{
	return hid_read_timeout(dev, data, length, -1);
}

void hid_close(hid_device *dev)
{
	if (!dev)
		return;
	close(dev->fd);
	free(dev);
}

const wchar_t *hid_error(hid_device *dev)
{
	(void)dev;
	return L"Dapdeck hidapi stand-in: the probe model's socket closed";
}
