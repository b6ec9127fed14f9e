/* The KVM probe firmware (see accel.ts): from the reset vector through real, protected and long mode, then
 * `out 0xf4` to qemu's isa-debug-exit device, so qemu exits with status 85. accel.ts embeds the assembled bytes;
 * to rebuild them:  as --32 -o p.o kvm-probe.S && objcopy -O binary p.o p.bin
 * (code at offset 0, mapped at 0xF0000; the far jump at 0xFFF0 is the reset vector). Page tables at 0x1000-0x3fff
 * identity-map the first 2 MiB with one large page.
 */
.code16
.org 0
start16:
  cli
  lgdtl %cs:gdtr
  movl %cr0, %eax
  orl $1, %eax
  movl %eax, %cr0
  ljmpl $0x08, $(0xF0000 + start32)
.code32
start32:
  movw $0x10, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movl $0x1000, %edi
  xorl %eax, %eax
  movl $0xC00, %ecx
  rep stosl
  movl $0x2003, 0x1000
  movl $0x3003, 0x2000
  movl $0x83, 0x3000
  movl %cr4, %eax
  orl $0x20, %eax
  movl %eax, %cr4
  movl $0x1000, %eax
  movl %eax, %cr3
  movl $0xC0000080, %ecx
  rdmsr
  orl $0x100, %eax
  wrmsr
  movl %cr0, %eax
  orl $0x80000000, %eax
  movl %eax, %cr0
  ljmp $0x18, $(0xF0000 + start64)
.code64
start64:
  movb $0x2a, %al
  outb %al, $0xf4
  hlt
.align 8
gdt:
  .quad 0
  .quad 0x00CF9A000000FFFF
  .quad 0x00CF92000000FFFF
  .quad 0x00AF9A000000FFFF
gdtr:
  .word 31
  .long 0xF0000 + gdt
.code16
.org 0xFFF0
  ljmp $0xF000, $start16
.org 0x10000
